import { limitsSuite } from "./limits.ts";
import { operationsSuite } from "./operations.ts";
import { behaviourSuite } from "./suite.ts";

behaviourSuite("deno");
limitsSuite("deno");
operationsSuite("deno");
