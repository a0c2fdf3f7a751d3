"""What tests share besides fixtures (those are in tests/conftest.py): plain functions and
constants that test modules import, real worker processes and their fixtures, private servers
for fault tests."""
