/** One node on the canvas: its id, kind, ports as handles, its run state (in words and colour) and its problems. */
import { Handle, Position, useReactFlow, useStore, type NodeProps } from "@xyflow/react";
import { useEffect } from "react";
import { handleLabel, handles, type FlowNode } from "./model";

const PORT_ROW = 18;
/** Fitting never zooms past 100 %: a graph of one or two nodes stays at its real size. */
export const FIT_VIEW = { maxZoom: 1, padding: 0.1 };

export function FlowNodeView({ id, data, selected }: NodeProps<FlowNode>) {
  const [targets, sources] = handles(data.kind, data.config);
  const invalid = data.problems.length > 0;
  const rows = Math.max(targets.length, sources.length, 1);
  // Ports sit in rows below the title (and the state, in an execution): handle centres, in px from the node's top.
  const portsTop = 8 + 22 + (data.state ? 28 : 0) + 4;
  const handleTop = (index: number) => portsTop + index * PORT_ROW + PORT_ROW / 2;
  const classes = ["flow-node", invalid ? "invalid" : "", data.state ? `state-${data.state}` : "", selected ? "selected" : ""];
  return (
    <div className={classes.join(" ")} data-testid={`node-${id}`} >
      <div className="flow-node-title">
        <strong>{data.name || id}</strong> <span className="kind">{data.kind}</span>
      </div>
      {data.state && (
        <div className="flow-node-state" data-testid={`node-state-${id}`}>
          {data.state}
        </div>
      )}
      <div className="flow-node-ports" style={{ height: rows * PORT_ROW + 4 }} />
      {invalid && (
        <ul className="flow-node-problems" aria-label={`Problems of ${id}`}>
          {data.problems.map((text, index) => (
            <li key={index}>⚠ Invalid: {text}</li>
          ))}
        </ul>
      )}
      {targets.map((port, index) => (
        <Handle
          key={`in-${port.name}`}
          id={port.name}
          type="target"
          position={Position.Left}
          className={port.type === "control" ? "control" : "data"}
          style={{ top: handleTop(index) }}
          title={`${port.name} (${port.type})`}
        >
          <span className="port-label left">{handleLabel(port.name)}</span>
        </Handle>
      ))}
      {sources.map((port, index) => (
        <Handle
          key={`out-${port.name}`}
          id={port.name}
          type="source"
          position={Position.Right}
          className={port.type === "control" ? "control" : "data"}
          style={{ top: handleTop(index) }}
          title={`${port.name} (${port.type})`}
        >
          <span className="port-label right">{handleLabel(port.name)}</span>
        </Handle>
      ))}
    </div>
  );
}

export const NODE_TYPES = { flow: FlowNodeView };

/** Fits the graph into the canvas again when the canvas changes size (a phone turned, a window narrowed) or a node
 * comes or goes (a new node is then in view). */
export function FitOnResize() {
  const { fitView } = useReactFlow();
  const domNode = useStore((state) => state.domNode);
  const nodeCount = useStore((state) => state.nodes.length);
  useEffect(() => {
    const frame = requestAnimationFrame(() => void fitView(FIT_VIEW));
    return () => cancelAnimationFrame(frame);
  }, [nodeCount, fitView]);
  useEffect(() => {
    if (!domNode) return;
    let frame = 0;
    const observer = new ResizeObserver(() => {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(() => void fitView(FIT_VIEW));
    });
    observer.observe(domNode);
    return () => {
      cancelAnimationFrame(frame);
      observer.disconnect();
    };
  }, [domNode, fitView]);
  return null;
}
