#!/usr/bin/env python3
"""Smoke test of moto's S3 (needs boto3, which moto[server] brings). Usage: check_s3.py PORT
Creates bucket test-bucket, then conditional puts and a 5 MiB-part multipart upload."""
import sys, boto3, botocore
from botocore.config import Config

s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test",
                  config=Config(s3={"addressing_style": "path"}))
B = "test-bucket"
s3.create_bucket(Bucket=B)
s3.put_object(Bucket=B, Key="a", Body=b"hello")
try:
    s3.put_object(Bucket=B, Key="a", Body=b"x", IfNoneMatch="*")
    sys.exit("If-None-Match: * on an existing key was accepted")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "PreconditionFailed", e.response
mp = s3.create_multipart_upload(Bucket=B, Key="big")
parts = []
for n, data in enumerate([b"x" * (5 << 20), b"y" * 1000], start=1):
    r = s3.upload_part(Bucket=B, Key="big", UploadId=mp["UploadId"], PartNumber=n, Body=data)
    parts.append({"PartNumber": n, "ETag": r["ETag"]})
s3.complete_multipart_upload(Bucket=B, Key="big", UploadId=mp["UploadId"],
                             MultipartUpload={"Parts": parts})
assert s3.head_object(Bucket=B, Key="big")["ContentLength"] == (5 << 20) + 1000
print("s3 ok")
