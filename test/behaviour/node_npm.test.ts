import { limitsSuite } from "./limits.ts";
import { operationsSuite } from "./operations.ts";
import { behaviourSuite } from "./suite.ts";
import { webSuite } from "./web.ts";

behaviourSuite("node-npm");
limitsSuite("node-npm");
webSuite("node-npm");
operationsSuite("node-npm");
