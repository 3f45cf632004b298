-- The lineage of maps built before 0014: their stored machine entries (the hidden, rejected ones
-- were not kept then). app/map.ts reads only map_lineage from here on.
INSERT INTO "map_lineage" ("customer_id", "entry_key", "job", "row", "refs")
SELECT e."customer_id", e."entry_key", e."job", e."row", e."refs"
FROM "map_entries" e
WHERE e."origin" = 'machine'
  AND e."row" NOT IN ('internal_processes', 'opportunities')
  AND NOT EXISTS (SELECT 1 FROM "map_lineage" l WHERE l."customer_id" = e."customer_id");
