"""Refuse TRUNCATE on the audit chain's tables.

The row trigger of 0002 refuses UPDATE and DELETE on governance_auditevent, but TRUNCATE fires no row
trigger: emptying both tables left a chain that verified as intact and empty. A statement-level
BEFORE TRUNCATE trigger refuses it on the event table and on the chain head.

Tests: pytest-django empties tables with TRUNCATE between transactional tests, so tests/conftest.py
overrides `django_db_setup` to DISABLE these two triggers in the test database only (the tests of the
guard enable them again inside their transaction). Production databases keep them enabled.
"""

from django.db import migrations

TABLES = ("governance_auditevent", "governance_auditchainhead")

FORWARD = """
CREATE OR REPLACE FUNCTION governance_audit_no_truncate() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is part of the audit chain: TRUNCATE refused', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
""" + "".join(
    f"""
CREATE TRIGGER {table}_no_truncate
    BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION governance_audit_no_truncate();
"""
    for table in TABLES
)

REVERSE = "".join(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};\n" for table in TABLES) + (
    "DROP FUNCTION IF EXISTS governance_audit_no_truncate();\n"
)


class Migration(migrations.Migration):
    dependencies = [("governance", "0002_vector_audit_trigger_roles")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
