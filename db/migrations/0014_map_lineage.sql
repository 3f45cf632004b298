CREATE TABLE "map_lineage" (
	"id" serial PRIMARY KEY NOT NULL,
	"customer_id" integer NOT NULL,
	"entry_key" text NOT NULL,
	"job" text,
	"row" text NOT NULL,
	"refs" jsonb NOT NULL
);
--> statement-breakpoint
ALTER TABLE "map_lineage" ADD CONSTRAINT "map_lineage_customer_id_customers_id_fk" FOREIGN KEY ("customer_id") REFERENCES "public"."customers"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "map_lineage_customer" ON "map_lineage" USING btree ("customer_id");