CREATE TABLE "customer_heads" (
	"customer_id" integer PRIMARY KEY NOT NULL,
	"key" text NOT NULL,
	"heads" "bytea" NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "customer_heads" ADD CONSTRAINT "customer_heads_customer_id_customers_id_fk" FOREIGN KEY ("customer_id") REFERENCES "public"."customers"("id") ON DELETE cascade ON UPDATE no action;