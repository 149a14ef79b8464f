"""On PostgreSQL, refuse TRUNCATE of the audit trail and of the locks at the database itself.

TRUNCATE fires no row triggers, so the audit table's append-only trigger (accounts 0002) did not
stop it, and ``manage.py flush`` would have emptied the trail and released every legal hold. The
only way past is a deliberate session setting, ``holdfast.allow_truncate = on``, which the test
suite's own database connections set (config/test_settings.py) to reset between tests.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION holdfast_refuse_truncate() RETURNS trigger AS $$
BEGIN
    IF coalesce(current_setting('holdfast.allow_truncate', true), '') <> 'on' THEN
        RAISE EXCEPTION 'TRUNCATE of % is refused: the audit trail and the locks are kept', TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER accounts_auditevent_no_truncate
    BEFORE TRUNCATE ON accounts_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION holdfast_refuse_truncate();
CREATE TRIGGER artifacts_lock_no_truncate
    BEFORE TRUNCATE ON artifacts_lock
    FOR EACH STATEMENT EXECUTE FUNCTION holdfast_refuse_truncate();
"""
DROP = """
DROP TRIGGER IF EXISTS accounts_auditevent_no_truncate ON accounts_auditevent;
DROP TRIGGER IF EXISTS artifacts_lock_no_truncate ON artifacts_lock;
DROP FUNCTION IF EXISTS holdfast_refuse_truncate();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_actors_and_job_rows"), ("artifacts", "0005_crash_safe_deletion")]
    operations = [migrations.RunPython(forwards, backwards)]
