/**
 * A Medusa v2 subscriber that forwards the order events Stockpool books (placed, canceled, fulfilment created,
 * return received) to Stockpool's webhook, signed. It reads the order (and the return) through Medusa's own
 * workflow and query, as the admin API shows them; everything else is in ../lib/stockpool.js.
 */
import type { SubscriberArgs, SubscriberConfig } from "@medusajs/framework"
import { ContainerRegistrationKeys } from "@medusajs/framework/utils"
import { getOrderDetailWorkflow } from "@medusajs/medusa/core-flows"

import { ORDER_EVENTS, configFromEnv, forwardEvent } from "../lib/stockpool"
import type { EventData, MedusaReturn, Order } from "../lib/stockpool"

/** What Stockpool reads of an order; the workflow adds payment_status and fulfillment_status, as the admin API does. */
const ORDER_FIELDS = ["id", "display_id", "email", "status", "currency_code", "items.*"]
const RETURN_FIELDS = ["id", "order_id", "status", "location_id", "received_at", "items.*"]

export default async function stockpoolSubscriber({ event, container }: SubscriberArgs<EventData>) {
  const query = container.resolve(ContainerRegistrationKeys.QUERY)
  const logger = container.resolve(ContainerRegistrationKeys.LOGGER)
  const delivery = await forwardEvent(
    { name: event.name, data: event.data },
    {
      ...configFromEnv(),
      fetchOrder: async (id) => {
        const { result } = await getOrderDetailWorkflow(container).run({
          input: { order_id: id, fields: ORDER_FIELDS },
        })
        return result as unknown as Order
      },
      fetchReturn: async (id) => {
        const { data } = await query.graph({ entity: "return", fields: RETURN_FIELDS, filters: { id } })
        if (!data.length) throw new Error(`Medusa has no return ${id}`)
        return data[0] as unknown as MedusaReturn
      },
    }
  )
  if (delivery) {
    logger.info(`Stockpool took ${event.name} (HTTP ${delivery.status}, attempt ${delivery.attempts})`)
  }
}

export const config: SubscriberConfig = {
  event: [...ORDER_EVENTS],
}
