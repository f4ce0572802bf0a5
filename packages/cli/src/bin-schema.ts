// The entry of dist/braid-schema.js, the bundle `braid schema` runs (bin/early.js picks it): the
// same CLI with the schema command only, so that an introspection does not first load and
// initialise every other command.
import { schemaCommand } from './commands/schema';
import { runCli } from './cli';

runCli([schemaCommand]);
