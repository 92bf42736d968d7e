/**
 * Numbered schema migrations for a Durable Object's SQLite storage. Run from the constructor inside
 * blockConcurrencyWhile, so no request ever sees a half-migrated object. Append, never edit, a migration.
 */
export function migrate(sql: SqlStorage, migrations: readonly string[]): void {
  sql.exec("CREATE TABLE IF NOT EXISTS _schema_version (version INTEGER NOT NULL)");
  const row = sql.exec<{ version: number }>("SELECT version FROM _schema_version").toArray()[0];
  const current = row?.version ?? 0;
  if (current > migrations.length) throw new Error(`storage is at schema ${current}, newer than this code (${migrations.length})`);
  for (let version = current; version < migrations.length; version++) sql.exec(migrations[version] as string);
  if (row === undefined) sql.exec("INSERT INTO _schema_version (version) VALUES (?)", migrations.length);
  else if (current !== migrations.length) sql.exec("UPDATE _schema_version SET version = ?", migrations.length);
}
