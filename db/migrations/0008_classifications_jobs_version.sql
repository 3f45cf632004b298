ALTER TABLE "classifications" ADD COLUMN "jobs_version" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
UPDATE "classifications" SET "jobs_version" = "customers"."retagged_jobs_version" FROM "customers" WHERE "customers"."id" = "classifications"."customer_id";
