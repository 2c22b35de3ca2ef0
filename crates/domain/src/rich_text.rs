//! Rich text as Attest stores it: HTML cleaned by an allowlist (SEC-46). Only structural and
//! inline formatting tags survive; links keep an `href` only for `http`, `https` and `mailto`,
//! and always get `rel="noopener noreferrer nofollow"`. Scripts, styles, event handlers and
//! every other attribute are dropped. Text is cleaned when it is written and again when it is
//! shown, so a stored value from an older allowlist cannot slip through.

use std::collections::HashSet;
use std::sync::LazyLock;

/// Longest rich text accepted, in bytes of input.
pub const MAX_BYTES: usize = 200_000;

static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let tags: HashSet<&str> = [
        "a",
        "b",
        "blockquote",
        "br",
        "code",
        "em",
        "h2",
        "h3",
        "h4",
        "hr",
        "i",
        "li",
        "ol",
        "p",
        "pre",
        "s",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "tr",
        "u",
        "ul",
    ]
    .into_iter()
    .collect();
    let schemes: HashSet<&str> = ["http", "https", "mailto"].into_iter().collect();
    let mut b = ammonia::Builder::default();
    b.tags(tags)
        .url_schemes(schemes)
        .link_rel(Some("noopener noreferrer nofollow"))
        .url_relative(ammonia::UrlRelative::Deny)
        .generic_attributes(HashSet::new())
        .tag_attributes(
            [("a", ["href", "title"].into_iter().collect::<HashSet<_>>())]
                .into_iter()
                .collect(),
        );
    b
});

/// Cleans untrusted HTML to the allowlist.
#[must_use]
pub fn clean(html: &str) -> String {
    CLEANER.clean(html).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec_46_javascript_links_lose_their_href() {
        let out = clean(r#"<a href="javascript:alert(1)">x</a>"#);
        assert!(!out.contains("javascript"), "{out}");
        assert!(out.contains(">x</a>"), "{out}");
    }

    #[test]
    fn sec_46_scripts_handlers_and_styles_are_dropped() {
        let out = clean(
            r#"<p onclick="x()" style="color:red">hi<script>alert(1)</script><img src=x onerror=alert(1)></p>"#,
        );
        assert_eq!(out, "<p>hi</p>");
    }

    #[test]
    fn sec_46_allowed_links_survive_with_a_safe_rel() {
        let out =
            clean(r#"<a href="https://example.org/a">a</a> <a href="mailto:x@example.org">m</a>"#);
        assert!(out.contains(r#"href="https://example.org/a""#), "{out}");
        assert!(out.contains(r#"href="mailto:x@example.org""#), "{out}");
        assert!(
            out.contains(r#"rel="noopener noreferrer nofollow""#),
            "{out}"
        );
        let out = clean(r#"<a href="data:text/html,x">d</a><a href="/relative">r</a>"#);
        assert!(!out.contains("href"), "{out}");
    }

    #[test]
    fn formatting_is_kept() {
        let html =
            "<h2>Scope</h2><p><strong>All</strong> <em>systems</em></p><ul><li>one</li></ul>";
        assert_eq!(clean(html), html);
    }
}
