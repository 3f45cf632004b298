/**
 * A process that opens the embedded database under the GAPMAP_HOME it is given, says READY and
 * keeps it open until it is killed: the other process of the home-lock test.
 */
import { openDb } from '../../db/client.ts';

await openDb({ home: process.env.GAPMAP_HOME! });
process.stdout.write('READY\n');
setInterval(() => {}, 60_000);
