/**
 * The example's database: one `customers` table in D1, created and seeded on first use, so that `wrangler dev`
 * and the tests need no migration step.
 */

export type Customer = { id: number; name: string; email: string; country: string };

/** Enough rows that a daily budget of a few hundred is a real limit. */
export const SEEDED_CUSTOMERS = 500;
const COUNTRIES = ["FR", "DE", "ES", "IT", "NL", "SE", "PL", "PT"];
const FIRST = ["Ada", "Ben", "Chloé", "Dmitri", "Eva", "Farid", "Greta", "Hugo", "Inès", "Jonas"];
const LAST = ["Martin", "Schmidt", "García", "Rossi", "de Vries", "Nilsson", "Nowak", "Silva"];

let seeded: Promise<void> | undefined;

/** Creates and fills the table once per isolate; concurrent first requests share the work. */
export function ensureSeeded(db: D1Database): Promise<void> {
  seeded ??= seed(db).catch((error) => {
    seeded = undefined;
    throw error;
  });
  return seeded;
}

async function seed(db: D1Database): Promise<void> {
  await db.exec(
    "CREATE TABLE IF NOT EXISTS customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, country TEXT NOT NULL)",
  );
  const row = await db.prepare("SELECT COUNT(*) AS n FROM customers").first<{ n: number }>();
  if ((row?.n ?? 0) >= SEEDED_CUSTOMERS) return;
  const insert = db.prepare("INSERT OR IGNORE INTO customers (id, name, email, country) VALUES (?, ?, ?, ?)");
  const rows = Array.from({ length: SEEDED_CUSTOMERS }, (_, i) => {
    const name = `${FIRST[i % FIRST.length]} ${LAST[Math.floor(i / FIRST.length) % LAST.length]}`;
    const email = `customer${i + 1}@example.com`;
    return insert.bind(i + 1, name, email, COUNTRIES[i % COUNTRIES.length]);
  });
  await db.batch(rows);
}

/** At most `limit` customers, optionally of one country, in id order. */
export async function queryCustomers(db: D1Database, limit: number, country?: string): Promise<Customer[]> {
  const statement =
    country === undefined
      ? db.prepare("SELECT id, name, email, country FROM customers ORDER BY id LIMIT ?").bind(limit)
      : db.prepare("SELECT id, name, email, country FROM customers WHERE country = ? ORDER BY id LIMIT ?").bind(country, limit);
  const { results } = await statement.all<Customer>();
  return results;
}
