// Runs the Medusa subscriber recipe's core under plain Node as the subscriber would, Medusa's container played by
// the Medusa sandbox's admin API over HTTP. Usage: node medusa_recipe_run.js '<JSON: medusaUrl, secretKey, url,
// secret, name, data, attempts?, backoffMs?>'; prints the delivery as JSON, or the error on stderr (exit 1).
"use strict";

const { forwardEvent } = require("../../integrations/medusa/src/lib/stockpool.js");

async function main() {
  const { medusaUrl, secretKey, url, secret, name, data, attempts, backoffMs } = JSON.parse(process.argv[2]);
  /** @param {string} path @param {string} key */
  const read = async (path, key) => {
    const response = await fetch(`${medusaUrl}${path}`, { headers: { Authorization: `Basic ${secretKey}` } });
    if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
    return (await response.json())[key];
  };
  const delivery = await forwardEvent(
    { name, data },
    {
      url,
      secret,
      attempts,
      backoffMs,
      fetchOrder: (id) => read(`/admin/orders/${id}`, "order"),
      fetchReturn: (id) => read(`/admin/returns/${id}`, "return"),
    },
  );
  process.stdout.write(JSON.stringify(delivery));
}

main().catch((error) => {
  process.stderr.write(String(error && error.message ? error.message : error));
  process.exit(1);
});
