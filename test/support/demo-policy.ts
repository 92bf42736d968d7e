/** Names from policy/demo.policy.json that many tests share. */

/** The CRM's audience. */
export const CRM_API = "https://crm.example.com";
/** The only demo use case without conditions or approval; support-bot and billing-agent may use it. */
export const CUSTOMERS_READ = "crm.customers.read";
/** Needs a ticket in context, an intent and a human approval. */
export const CUSTOMERS_EXPORT = "crm.customers.export";
/** The one location of crm.customers.read. */
export const CUSTOMERS_TABLE = "https://crm.example.com/tables/customers";
