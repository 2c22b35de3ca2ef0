-- Issue 7: a tenant's own framework may also come as YAML.

ALTER TABLE framework DROP CONSTRAINT framework_source_check;
ALTER TABLE framework ADD CONSTRAINT framework_source_check
    CHECK (source IN ('oscal', 'csv', 'yaml', 'baseline'));
