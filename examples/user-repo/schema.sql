-- A team's own schema and a sample of its data: what their backup must round-trip.
CREATE EXTENSION IF NOT EXISTS citext;
CREATE SCHEMA shop;
CREATE TABLE shop.customers (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email citext NOT NULL UNIQUE,
    created timestamptz NOT NULL DEFAULT '2026-01-01T00:00:00Z'
);
CREATE TABLE shop.orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer bigint NOT NULL REFERENCES shop.customers (id),
    total numeric(10, 2) NOT NULL CHECK (total >= 0),
    note text NOT NULL DEFAULT ''
);
CREATE INDEX orders_by_customer ON shop.orders (customer);
CREATE VIEW shop.revenue AS SELECT customer, sum(total) AS total FROM shop.orders GROUP BY customer;

INSERT INTO shop.customers (email)
SELECT 'customer' || g || '@example.com' FROM generate_series(1, 200) g;
INSERT INTO shop.orders (customer, total)
SELECT 1 + (g % 200), (g % 97) + 0.99 FROM generate_series(1, 1000) g;
