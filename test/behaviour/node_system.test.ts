import { behaviourSuite } from "./suite.ts";

behaviourSuite("node-system");
