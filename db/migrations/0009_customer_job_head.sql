CREATE TABLE "customer_job_head" (
	"customer_id" integer PRIMARY KEY NOT NULL,
	"choice" jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "customer_job_head" ADD CONSTRAINT "customer_job_head_customer_id_customers_id_fk" FOREIGN KEY ("customer_id") REFERENCES "public"."customers"("id") ON DELETE cascade ON UPDATE no action;