CREATE TABLE "customers" (
	"id" serial PRIMARY KEY NOT NULL,
	"key" text NOT NULL,
	"name" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "customers_key_unique" UNIQUE("key")
);
--> statement-breakpoint
CREATE TABLE "jobs" (
	"id" serial PRIMARY KEY NOT NULL,
	"customer_id" integer NOT NULL,
	"key" text NOT NULL,
	"statement" text NOT NULL,
	"desired_outcome" text DEFAULT '' NOT NULL,
	"examples" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"origin" text DEFAULT 'import' NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "import_errors" (
	"id" serial PRIMARY KEY NOT NULL,
	"run_id" integer NOT NULL,
	"file" text NOT NULL,
	"line" integer,
	"field" text,
	"message" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "import_runs" (
	"id" serial PRIMARY KEY NOT NULL,
	"source" text NOT NULL,
	"kind" text NOT NULL,
	"status" text DEFAULT 'queued' NOT NULL,
	"counts" jsonb NOT NULL,
	"customer_keys" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"error" text,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "items" (
	"id" serial PRIMARY KEY NOT NULL,
	"customer_id" integer NOT NULL,
	"source_type" text NOT NULL,
	"external_id" text NOT NULL,
	"content_hash" text NOT NULL,
	"occurred_at" timestamp with time zone,
	"origin" jsonb NOT NULL,
	"meta" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"first_run_id" integer,
	"last_run_id" integer,
	"deleted_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "units" (
	"id" serial PRIMARY KEY NOT NULL,
	"item_id" integer NOT NULL,
	"customer_id" integer NOT NULL,
	"ref" text NOT NULL,
	"ordinal" integer NOT NULL,
	"speaker" text,
	"text" text NOT NULL,
	"section" text,
	"quotes" jsonb,
	"occurred_at" timestamp with time zone,
	"offset_ms" bigint,
	"content_hash" text NOT NULL,
	"deleted_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "classifications" (
	"unit_id" integer PRIMARY KEY NOT NULL,
	"customer_id" integer NOT NULL,
	"content_hash" text NOT NULL,
	"classifier" text NOT NULL,
	"version" text NOT NULL,
	"job" text,
	"job_confidence" real NOT NULL,
	"kind" text NOT NULL,
	"kind_confidence" real NOT NULL,
	"sentiment" text NOT NULL,
	"sentiment_confidence" real NOT NULL,
	"classified_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "reviews" (
	"id" serial PRIMARY KEY NOT NULL,
	"customer_id" integer NOT NULL,
	"unit_id" integer,
	"entry_key" text,
	"action" text NOT NULL,
	"value" jsonb,
	"who" text NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "map_entries" (
	"id" serial PRIMARY KEY NOT NULL,
	"customer_id" integer NOT NULL,
	"entry_key" text NOT NULL,
	"job" text,
	"row" text NOT NULL,
	"rank" integer NOT NULL,
	"label" text NOT NULL,
	"count" integer NOT NULL,
	"sentiment" jsonb NOT NULL,
	"quote" text NOT NULL,
	"quote_ref" text,
	"refs" jsonb NOT NULL,
	"origin" text DEFAULT 'machine' NOT NULL,
	"computed_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "map_state" (
	"customer_id" integer PRIMARY KEY NOT NULL,
	"built_at" timestamp with time zone NOT NULL,
	"classified_through" timestamp with time zone,
	"units" integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_customer_id_customers_id_fk" FOREIGN KEY ("customer_id") REFERENCES "public"."customers"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "import_errors" ADD CONSTRAINT "import_errors_run_id_import_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."import_runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "items" ADD CONSTRAINT "items_customer_id_customers_id_fk" FOREIGN KEY ("customer_id") REFERENCES "public"."customers"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "units" ADD CONSTRAINT "units_item_id_items_id_fk" FOREIGN KEY ("item_id") REFERENCES "public"."items"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "units" ADD CONSTRAINT "units_customer_id_customers_id_fk" FOREIGN KEY ("customer_id") REFERENCES "public"."customers"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "classifications" ADD CONSTRAINT "classifications_unit_id_units_id_fk" FOREIGN KEY ("unit_id") REFERENCES "public"."units"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "reviews" ADD CONSTRAINT "reviews_customer_id_customers_id_fk" FOREIGN KEY ("customer_id") REFERENCES "public"."customers"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "reviews" ADD CONSTRAINT "reviews_unit_id_units_id_fk" FOREIGN KEY ("unit_id") REFERENCES "public"."units"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "map_entries" ADD CONSTRAINT "map_entries_customer_id_customers_id_fk" FOREIGN KEY ("customer_id") REFERENCES "public"."customers"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "map_state" ADD CONSTRAINT "map_state_customer_id_customers_id_fk" FOREIGN KEY ("customer_id") REFERENCES "public"."customers"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "jobs_customer_key" ON "jobs" USING btree ("customer_id","key");--> statement-breakpoint
CREATE INDEX "import_errors_run" ON "import_errors" USING btree ("run_id");--> statement-breakpoint
CREATE UNIQUE INDEX "items_source" ON "items" USING btree ("source_type","external_id");--> statement-breakpoint
CREATE UNIQUE INDEX "units_ref" ON "units" USING btree ("ref");--> statement-breakpoint
CREATE INDEX "units_customer" ON "units" USING btree ("customer_id");--> statement-breakpoint
CREATE INDEX "units_item" ON "units" USING btree ("item_id");--> statement-breakpoint
CREATE INDEX "classifications_customer" ON "classifications" USING btree ("customer_id");--> statement-breakpoint
CREATE INDEX "reviews_customer" ON "reviews" USING btree ("customer_id");--> statement-breakpoint
CREATE INDEX "reviews_unit" ON "reviews" USING btree ("unit_id");--> statement-breakpoint
CREATE INDEX "map_entries_customer" ON "map_entries" USING btree ("customer_id");