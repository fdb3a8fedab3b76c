/** Flows: the list, the editor (`#/flows/new`, `#/flows/:flowId`) and an execution (`#/flows/:flowId/executions/:id`). */
import "@xyflow/react/dist/style.css";
import { useEffect, useState } from "react";
import { Link, Route, Routes, useParams } from "react-router-dom";
import { type Schemas } from "../api/client";
import { useServices } from "../context";
import { FlowEditor } from "./flows/Editor";
import { ExecutionView } from "./flows/ExecutionView";

export function FlowsPage() {
  return (
    <div className="page flows">
      <Routes>
        <Route index element={<FlowList />} />
        <Route path="new" element={<FlowEditor key="new" flowId={null} />} />
        <Route path=":flowId" element={<EditorRoute />} />
        <Route path=":flowId/executions/:executionId" element={<ExecutionRoute />} />
      </Routes>
    </div>
  );
}

function EditorRoute() {
  const { flowId = "" } = useParams();
  return <FlowEditor key={flowId} flowId={flowId} />;
}

function ExecutionRoute() {
  const { flowId = "", executionId = "" } = useParams();
  return <ExecutionView key={executionId} flowId={flowId} executionId={executionId} />;
}

function FlowList() {
  const { api } = useServices();
  const [flows, setFlows] = useState<Schemas["Flow"][] | null>(null);
  useEffect(() => {
    void api.GET("/flows", {}).then(({ data }) => setFlows(data?.items ?? []));
  }, [api]);
  return (
    <>
      <div className="toolbar">
        <h1>Flows</h1>
        <Link to="/flows/new" className="button primary">
          New flow
        </Link>
      </div>
      <section className="card" aria-label="Flows">
        <ul aria-busy={flows === null} className="flow-list">
          {flows?.length === 0 && <li className="placeholder">No flows yet: make one with “New flow”.</li>}
          {flows?.map((flow) => (
            <li key={flow.id}>
              <Link to={`/flows/${flow.id}`}>{flow.name}</Link> <span className="badge">version {flow.latest_version}</span>{" "}
              {(flow.graph.nodes ?? []).length} nodes
            </li>
          ))}
        </ul>
      </section>
    </>
  );
}
