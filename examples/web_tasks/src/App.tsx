import { useState } from "react";
import { useMutation, useQuery } from "fusiondb-client/react";
import { api } from "./api.ts";

const user = new URLSearchParams(window.location.search).get("user") ?? "u1";

export function App() {
  const tasks = useQuery(api.list_by_user, { user_id: user });
  const add = useMutation(api.add);
  const toggle = useMutation(api.toggle);
  const [text, setText] = useState("");

  return (
    <main>
      <h1>Tasks of {user}</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (text.trim()) void add({ text, user_id: user });
          setText("");
        }}
      >
        <input aria-label="new task" value={text} onChange={(e) => setText(e.target.value)} />
        <button type="submit">Add</button>
      </form>
      {tasks === undefined ? (
        <p>Loading…</p>
      ) : (
        <ul aria-label="tasks">
          {tasks.map((t) => (
            <li key={t.id} data-completed={t.completed}>
              <label>
                <input type="checkbox" checked={t.completed} onChange={() => void toggle({ task_id: t.id })} />
                {t.text}
              </label>
              {t.attachment_url ? <img src={t.attachment_url} alt={`attachment of ${t.text}`} width={32} /> : null}
            </li>
          ))}
        </ul>
      )}
    </main>
  );
}
