// The launcher lives in scripts/ because `npm run bench` starts the same production bundle the same way.
export { type Broker, startBroker } from "../../scripts/local-broker.ts";
