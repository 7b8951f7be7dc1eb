import { limitsSuite } from "./limits.ts";
import { operationsSuite } from "./operations.ts";
import { behaviourSuite } from "./suite.ts";

behaviourSuite("bun");
limitsSuite("bun");
operationsSuite("bun");
