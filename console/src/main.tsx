import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { Auth } from "./auth";
import { apiClient } from "./api/client";
import { loadConfig } from "./config";
import "./styles.css";

const root = createRoot(document.getElementById("root")!);
loadConfig()
  .then((config) => {
    const auth = new Auth(config);
    root.render(
      <StrictMode>
        <App config={config} auth={auth} api={apiClient(config.apiUrl, auth)} />
      </StrictMode>,
    );
  })
  .catch((error: Error) => root.render(<p role="alert">The console could not start: {error.message}</p>));
