"""The golden-output harness: pristine vs patched scanpy, field by field.

A package so that its modules import each other relatively and the tests import them
as ``migration_tests.<mod>``. Its two scripts run as modules from the repository root,
in the interpreter of the environment under test::

    python -m migration_tests.run_cases --out build/migration/pristine.pkl
    python -m migration_tests.compare PRISTINE.pkl PATCHED.pkl
"""
