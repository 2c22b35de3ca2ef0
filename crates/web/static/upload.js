// Upload progress for Attest's evidence forms. Loaded as a static file under the CSP
// (script-src 'self'); there is no inline script anywhere.
//
// A form marked `data-upload` is sent with XMLHttpRequest instead of a normal submission, so
// its `.upload-progress` bar can show how much of the file has been sent. The request is the
// same one the browser would make (the same multipart body, the CSRF field first, the same
// cookies), so the server treats both alike. When the server answers with a redirect, the
// browser goes there; when it answers with a page (a refused file, a missing title), that
// page replaces the current one. Without JavaScript the form works as an ordinary upload.
'use strict';
(() => {
  const human = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.ceil(n / 1e3)} kB`);

  const attach = (form) => {
    form.addEventListener('submit', (event) => {
      if (!window.FormData || !window.XMLHttpRequest) return;
      event.preventDefault();
      const box = form.querySelector('.upload-progress');
      const bar = box && box.querySelector('progress');
      const text = box && box.querySelector('.progress-text');
      const button = form.querySelector('button[type=submit]');
      if (box) box.hidden = false;
      if (button) button.disabled = true;
      const xhr = new XMLHttpRequest();
      xhr.open('POST', form.action);
      xhr.setRequestHeader('Accept', 'text/html');
      xhr.upload.addEventListener('progress', (e) => {
        if (!e.lengthComputable || !bar) return;
        bar.value = Math.round((e.loaded / e.total) * 100);
        if (text) text.textContent = `${human(e.loaded)} of ${human(e.total)} sent`;
      });
      xhr.addEventListener('load', () => {
        const target = new URL(form.action, window.location.href);
        if (xhr.status < 400 && xhr.responseURL && xhr.responseURL !== target.href) {
          window.location.assign(xhr.responseURL);
          return;
        }
        // A page with the server's answer: show it in place of this one.
        const page = new DOMParser().parseFromString(xhr.responseText, 'text/html');
        document.title = page.title;
        document.body.replaceWith(document.importNode(page.body, true));
        document.querySelectorAll('form[data-upload]').forEach(attach);
        const summary = document.querySelector('.error-summary');
        if (summary) summary.focus();
      });
      xhr.addEventListener('error', () => {
        if (button) button.disabled = false;
        if (text) text.textContent = 'The upload failed: the connection broke. Nothing was stored; try again.';
      });
      xhr.send(new FormData(form));
    });
  };

  document.querySelectorAll('form[data-upload]').forEach(attach);
})();
