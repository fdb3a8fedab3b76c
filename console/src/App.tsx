import { Suspense, lazy, useEffect, useState } from "react";
import { HashRouter, NavLink, Navigate, Route, Routes } from "react-router-dom";
import type { Api } from "./api/client";
import type { Auth } from "./auth";
import type { RuntimeConfig } from "./config";
import { ServicesContext } from "./context";
import { NotificationsBell } from "./Notifications";
import { ChatPage } from "./pages/Chat";
import { CrewsPage } from "./pages/Crews";
import { FilesPage } from "./pages/Files";
import { JobsPage } from "./pages/Jobs";
import { NotesPage } from "./pages/Notes";
import { SignInPage } from "./pages/SignIn";
import { TasksPage } from "./pages/Tasks";
import { ToolsPage } from "./pages/Tools";

// The flow editor brings React Flow (about 200 kB): loaded when someone opens it, not with the sign-in page.
const FlowsPage = lazy(() => import("./pages/Flows").then((module) => ({ default: module.FlowsPage })));

const PAGES = [
  { path: "/tasks", label: "Tasks" },
  { path: "/notes", label: "Notes" },
  { path: "/files", label: "Files" },
  { path: "/jobs", label: "Jobs" },
  { path: "/chat", label: "Chat" },
  { path: "/crews", label: "Crews" },
  { path: "/tools", label: "Tools" },
  { path: "/flows", label: "Flows" },
];

export function App({ config, auth, api }: { config: RuntimeConfig; auth: Auth; api: Api }) {
  const [signedIn, setSignedIn] = useState(auth.signedIn);
  useEffect(() => auth.onChange(() => setSignedIn(auth.signedIn)), [auth]);

  return (
    <ServicesContext.Provider value={{ config, auth, api }}>
      <HashRouter>
        <a className="skip" href="#main">
          Skip to content
        </a>
        <header className="bar">
          <span className="brand">Crewhouse</span>
          {signedIn && (
            <>
              <nav aria-label="Main">
                {PAGES.map((page) => (
                  <NavLink key={page.path} to={page.path}>
                    {page.label}
                  </NavLink>
                ))}
              </nav>
              <span className="who">{auth.email()}</span>
              <NotificationsBell />
              <button type="button" onClick={() => void auth.signOut()}>
                Sign out
              </button>
            </>
          )}
        </header>
        <main id="main">
          {signedIn ? (
            <Routes>
              <Route path="/tasks" element={<TasksPage />} />
              <Route path="/notes" element={<NotesPage />} />
              <Route path="/files" element={<FilesPage />} />
              <Route path="/jobs" element={<JobsPage />} />
              <Route path="/chat" element={<ChatPage />} />
              <Route path="/crews" element={<CrewsPage />} />
              <Route path="/tools" element={<ToolsPage />} />
              <Route
                path="/flows/*"
                element={
                  <Suspense fallback={<p aria-live="polite">Loading the flow editor…</p>}>
                    <FlowsPage />
                  </Suspense>
                }
              />
              <Route path="*" element={<Navigate to="/tasks" replace />} />
            </Routes>
          ) : (
            <SignInPage />
          )}
        </main>
      </HashRouter>
    </ServicesContext.Provider>
  );
}
