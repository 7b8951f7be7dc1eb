import { limitsSuite } from "./limits.ts";
import { operationsSuite } from "./operations.ts";
import { behaviourSuite } from "./suite.ts";

behaviourSuite("node-npm");
limitsSuite("node-npm");
operationsSuite("node-npm");
