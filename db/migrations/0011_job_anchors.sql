CREATE TABLE "job_anchors" (
	"customer_id" integer NOT NULL,
	"unit_id" integer NOT NULL,
	"content_hash" text NOT NULL,
	"job" text NOT NULL,
	"confidence" double precision NOT NULL,
	CONSTRAINT "job_anchors_customer_id_unit_id_pk" PRIMARY KEY("customer_id","unit_id")
);
--> statement-breakpoint
ALTER TABLE "job_anchors" ADD CONSTRAINT "job_anchors_customer_id_customers_id_fk" FOREIGN KEY ("customer_id") REFERENCES "public"."customers"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "job_anchors" ADD CONSTRAINT "job_anchors_unit_id_units_id_fk" FOREIGN KEY ("unit_id") REFERENCES "public"."units"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
-- The anchors kept as one array per customer (customer_anchors, dropped by 0012), as rows: one per
-- live unit with the anchor's text.
INSERT INTO "job_anchors" ("customer_id", "unit_id", "content_hash", "job", "confidence")
SELECT DISTINCT ON (a."customer_id", u."id") a."customer_id", u."id", u."content_hash", e."job", e."confidence"
FROM "customer_anchors" a
CROSS JOIN LATERAL jsonb_to_recordset(a."anchors") AS e("text" text, "job" text, "confidence" double precision)
JOIN "units" u ON u."customer_id" = a."customer_id" AND u."text" = e."text" AND u."deleted_at" IS NULL
WHERE e."job" IS NOT NULL AND e."confidence" IS NOT NULL
ORDER BY a."customer_id", u."id", e."confidence" DESC;
