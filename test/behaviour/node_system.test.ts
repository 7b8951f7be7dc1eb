import { limitsSuite } from "./limits.ts";
import { behaviourSuite } from "./suite.ts";
import { webSuite } from "./web.ts";

behaviourSuite("node-system");
limitsSuite("node-system");
webSuite("node-system");
