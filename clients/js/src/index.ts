// The client; the React hooks are in "fusiondb-client/react".
export { FusionClient, FusionError, syncUrl } from "./client.js";
export type {
  ArgsOf,
  ClientOptions,
  ErrorWatcher,
  FunctionKind,
  FunctionReference,
  MutationRef,
  QueryRef,
  ResultOf,
  SocketFactory,
  SocketLike,
  Watcher,
} from "./client.js";
