-- (a) The floor: the plain per-customer grouping, no scoring.
SELECT customer_id, max(ordered_at) AS last_order_at, count(*) AS orders, sum(amount) AS revenue
FROM orders
GROUP BY customer_id
