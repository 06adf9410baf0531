/**
 * React hooks over a FusionClient: <FusionProvider client={client}>, useQuery (re-renders on
 * every new value; undefined while loading) and useMutation.
 */
import { createContext, createElement, useCallback, useContext, useEffect, useState } from "react";
import type { ReactNode } from "react";
import type { ArgsOf, FusionClient, FusionError, MutationRef, QueryRef, ResultOf } from "./client.js";

const ClientContext = createContext<FusionClient | null>(null);

export function FusionProvider(props: { client: FusionClient; children?: ReactNode }) {
  return createElement(ClientContext.Provider, { value: props.client }, props.children);
}

export function useFusionClient(): FusionClient {
  const client = useContext(ClientContext);
  if (client === null) throw new Error("useQuery/useMutation outside <FusionProvider client={...}>");
  return client;
}

/** The query's current value: undefined while loading, then each new value as it comes.
 * Pass "skip" as args to not run it. When a re-run fails the last value stays (watch the
 * query with client.watch(..., onError) to show the error). */
export function useQuery<F extends QueryRef>(ref: F, args?: ArgsOf<F> | "skip"): ResultOf<F> | undefined {
  const client = useFusionClient();
  const name = typeof ref === "string" ? ref : ref.name;
  const key = args === "skip" ? null : JSON.stringify([name, args ?? {}]);
  const [state, setState] = useState<{ key: string | null; value: ResultOf<F> | undefined }>({
    key,
    value: undefined,
  });
  useEffect(() => {
    if (key === null) return undefined;
    const [, parsed] = JSON.parse(key) as [string, ArgsOf<F>];
    return client.watch(ref, parsed, (value) => setState({ key, value: value as ResultOf<F> }));
    // ref is identified by its name, inside key
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, key]);
  return state.key === key ? state.value : undefined;
}

/** A function running the mutation: `const add = useMutation(api.add); await add({...})`. */
export function useMutation<F extends MutationRef>(ref: F): (args?: ArgsOf<F>) => Promise<ResultOf<F>> {
  const client = useFusionClient();
  const name = typeof ref === "string" ? ref : ref.name;
  return useCallback((args?: ArgsOf<F>) => client.mutation(name, args) as Promise<ResultOf<F>>, [client, name]);
}

export type { FusionError };
