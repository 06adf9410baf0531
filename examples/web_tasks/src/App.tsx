import { useState } from "react";
import { useFusionClient, useMutation, useQuery } from "fusiondb-client/react";
import { api } from "./api.ts";

const user = new URLSearchParams(window.location.search).get("user") ?? "u1";

export function App() {
  const tasks = useQuery(api.list_by_user, { user_id: user });
  const add = useMutation(api.add);
  const toggle = useMutation(api.toggle);
  const uploadUrl = useMutation(api.upload_url);
  const attach = useMutation(api.attach_upload);
  const client = useFusionClient();
  // Convex's three steps: a mutation hands out an upload URL, the file is POSTed to it, and
  // another mutation keeps the id it answered.
  const attachFile = async (taskId: string, file: File) => {
    const fileId = await client.upload(await uploadUrl({}), file);
    await attach({ task_id: taskId, file_id: fileId });
  };
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
              <input
                type="file"
                accept="image/*"
                aria-label={`attach to ${t.text}`}
                onChange={(e) => {
                  const file = e.target.files?.[0];
                  if (file) void attachFile(t.id, file);
                }}
              />
              {t.attachment_url ? <img src={t.attachment_url} alt={`attachment of ${t.text}`} width={32} /> : null}
            </li>
          ))}
        </ul>
      )}
    </main>
  );
}
