import { limitsSuite } from "./limits.ts";
import { operationsSuite } from "./operations.ts";
import { behaviourSuite } from "./suite.ts";

behaviourSuite("node-system");
limitsSuite("node-system");
operationsSuite("node-system");
