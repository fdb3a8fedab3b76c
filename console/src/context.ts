import { createContext, useContext } from "react";
import type { Api } from "./api/client";
import type { Auth } from "./auth";
import type { RuntimeConfig } from "./config";

export interface Services {
  config: RuntimeConfig;
  auth: Auth;
  api: Api;
}

export const ServicesContext = createContext<Services | null>(null);

export function useServices(): Services {
  const services = useContext(ServicesContext);
  if (!services) throw new Error("useServices outside ServicesContext");
  return services;
}
