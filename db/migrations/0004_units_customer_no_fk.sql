ALTER TABLE "units" DROP CONSTRAINT "units_customer_id_customers_id_fk";
