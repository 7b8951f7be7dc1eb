import { limitsSuite } from "./limits.ts";
import { behaviourSuite } from "./suite.ts";

behaviourSuite("node-npm");
limitsSuite("node-npm");
