CREATE TABLE "connector_unmapped" (
	"connector_id" integer NOT NULL,
	"external_id" text NOT NULL,
	"organization" text NOT NULL,
	"item" jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "connector_unmapped_connector_id_external_id_pk" PRIMARY KEY("connector_id","external_id")
);
--> statement-breakpoint
CREATE TABLE "connectors" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"kind" text NOT NULL,
	"config" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"secret" text,
	"mapping" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"schedule" text DEFAULT '0 2 * * *' NOT NULL,
	"timezone" text DEFAULT 'UTC' NOT NULL,
	"cursor" text,
	"cursor_saved_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "connectors_name_unique" UNIQUE("name")
);
--> statement-breakpoint
ALTER TABLE "connector_unmapped" ADD CONSTRAINT "connector_unmapped_connector_id_connectors_id_fk" FOREIGN KEY ("connector_id") REFERENCES "public"."connectors"("id") ON DELETE cascade ON UPDATE no action;