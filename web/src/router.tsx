import { type MouseEvent, type ReactNode, useCallback, useEffect, useState } from 'react';

/** A small history-API router: the dashboard has a handful of pages and no nested routes. */
export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (to === window.location.pathname + window.location.search) return;
  if (options.replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

function useLocationPart(read: () => string): string {
  const [value, setValue] = useState(read);
  useEffect(() => {
    const update = () => setValue(read());
    window.addEventListener('popstate', update);
    return () => window.removeEventListener('popstate', update);
  }, [read]);
  return value;
}

const readPath = () => window.location.pathname;
const readSearch = () => window.location.search;

export function usePath(): string {
  return useLocationPart(readPath);
}

/**
 * A page's state kept in the URL's query (step, page, filters), so back, forward and reload
 * keep it. `set` merges the given values (empty ones are dropped); `push: true` makes a new
 * history entry (a step), otherwise the current one is replaced (typing in a filter).
 */
export function useQuery(): [
  URLSearchParams,
  (values: Record<string, string | null>, options?: { push?: boolean }) => void,
] {
  const search = useLocationPart(readSearch);
  const set = useCallback(
    (values: Record<string, string | null>, options: { push?: boolean } = {}) => {
      const next = new URLSearchParams(window.location.search);
      for (const [key, value] of Object.entries(values)) {
        if (value === null || value === '') next.delete(key);
        else next.set(key, value);
      }
      const query = next.toString();
      navigate(`${window.location.pathname}${query ? `?${query}` : ''}`, {
        replace: !options.push,
      });
    },
    [],
  );
  return [new URLSearchParams(search), set];
}

export function Link(props: {
  to: string;
  children: ReactNode;
  className?: string;
  current?: boolean;
  onNavigate?: () => void;
}) {
  const onClick = (event: MouseEvent<HTMLAnchorElement>) => {
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    navigate(props.to);
    props.onNavigate?.();
  };
  return (
    <a
      href={props.to}
      onClick={onClick}
      className={props.className}
      aria-current={props.current ? 'page' : undefined}
    >
      {props.children}
    </a>
  );
}
