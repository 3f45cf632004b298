ALTER TABLE "customers" ADD COLUMN "decisions_version" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
-- Reviews of units added or removed (removed only by a cascade: a unit or its customer deleted).
-- Once per statement, for the customers the statement's rows name.
CREATE FUNCTION "bump_decisions_version"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE "customers" SET "decisions_version" = "decisions_version" + 1
  WHERE "id" IN (SELECT "customer_id" FROM "changed" WHERE "unit_id" IS NOT NULL);
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER "reviews_added" AFTER INSERT ON "reviews" REFERENCING NEW TABLE AS "changed"
  FOR EACH STATEMENT EXECUTE FUNCTION "bump_decisions_version"();
--> statement-breakpoint
CREATE TRIGGER "reviews_removed" AFTER DELETE ON "reviews" REFERENCING OLD TABLE AS "changed"
  FOR EACH STATEMENT EXECUTE FUNCTION "bump_decisions_version"();
--> statement-breakpoint
-- A unit's text edited (a re-import): the customers whose decisions name the unit. Only rows whose
-- text differs run it.
CREATE FUNCTION "bump_decisions_version_of_unit"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE "customers" SET "decisions_version" = "decisions_version" + 1
  WHERE "id" IN (SELECT "customer_id" FROM "reviews" WHERE "unit_id" = NEW."id");
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER "units_text_edited" AFTER UPDATE OF "text" ON "units"
  FOR EACH ROW WHEN (OLD."text" IS DISTINCT FROM NEW."text") EXECUTE FUNCTION "bump_decisions_version_of_unit"();
