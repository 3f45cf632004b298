CREATE TABLE "customer_anchors" (
	"customer_id" integer PRIMARY KEY NOT NULL,
	"anchors" jsonb DEFAULT '[]'::jsonb NOT NULL
);
--> statement-breakpoint
ALTER TABLE "customer_anchors" ADD CONSTRAINT "customer_anchors_customer_id_customers_id_fk" FOREIGN KEY ("customer_id") REFERENCES "public"."customers"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "customers" DROP COLUMN "anchors";