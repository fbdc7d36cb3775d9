"""SQL storage: schema, engine, migrations."""
