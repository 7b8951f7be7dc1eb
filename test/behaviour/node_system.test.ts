import { limitsSuite } from "./limits.ts";
import { operationsSuite } from "./operations.ts";
import { behaviourSuite } from "./suite.ts";
import { webSuite } from "./web.ts";

behaviourSuite("node-system");
limitsSuite("node-system");
webSuite("node-system");
operationsSuite("node-system");
