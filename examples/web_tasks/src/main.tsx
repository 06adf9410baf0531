import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { FusionClient } from "fusiondb-client";
import { FusionProvider } from "fusiondb-client/react";
import { App } from "./App.tsx";

// "" = this page's origin: the page is served by `fusiondb serve --static dist`.
const client = new FusionClient("");

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <FusionProvider client={client}>
      <App />
    </FusionProvider>
  </StrictMode>,
);
