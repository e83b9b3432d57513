/**
 * README's `orders` function (asynchronous calls, versions and aliases, dead letters): accepts an
 * order of `items`; an order without items fails, so an async call of one ends as a dead letter.
 */
export async function handler(event) {
  const items = Array.isArray(event.items) ? event.items : [];
  if (items.length === 0) throw new Error('an order needs at least one item in "items"');
  console.log(`order of ${items.length} item(s)`);
  return { accepted: items, refunds: process.env.REFUNDS === 'on' };
}
