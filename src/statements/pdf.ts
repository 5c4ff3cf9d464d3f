import { setTimeout as sleep } from 'node:timers/promises';
import PDFDocument from 'pdfkit';
import type { TransactionView } from '../ledger/transaction-view.ts';
import { localDate, localDateTime } from './period.ts';
import type { Statement } from './statements-service.ts';

/**
 * A statement as PDF (PDFKit), written while its lines stream from the database. PDFKit
 * writes each page out when the next one begins (pages are not buffered), and the writer
 * below waits whenever the bytes not yet taken by the socket pass a bound, so memory stays
 * bounded by one page of drawing plus that bound, whatever the number of lines.
 *
 * "Page n of N" needs N before the first page is finished. Every line takes one row of
 * fixed height (long descriptions are cut), so N follows from the line count the totals
 * query already gave, by the same arithmetic the writer uses to break pages.
 */

const PAGE = { width: 595.28, height: 841.89 };
const LEFT = 40;
const ROW_HEIGHT = 14;
const FIRST_TABLE_TOP = 176;
const OTHER_TABLE_TOP = 66;
const TABLE_BOTTOM = 780;
const FOOTER_Y = 806;
const TOTALS_HEIGHT = 5 * ROW_HEIGHT + 10;
const ROWS_FIRST = Math.floor((TABLE_BOTTOM - (FIRST_TABLE_TOP + ROW_HEIGHT)) / ROW_HEIGHT);
const ROWS_OTHER = Math.floor((TABLE_BOTTOM - (OTHER_TABLE_TOP + ROW_HEIGHT)) / ROW_HEIGHT);
/** Bytes of finished PDF the socket has not taken yet before the writer waits. */
const HIGH_WATER_BYTES = 256 * 1024;

const COLUMNS = [
  { title: 'Date', width: 78, align: 'left' },
  { title: 'Type', width: 62, align: 'left' },
  { title: 'Details', width: 165, align: 'left' },
  { title: 'Debit', width: 70, align: 'right' },
  { title: 'Credit', width: 70, align: 'right' },
  { title: 'Balance', width: 70, align: 'right' },
] as const;

export const BANK_NAME = 'Corebank';

/** Where each page ends, as the writer will lay it out: the page count for `lines` lines. */
export function pageCountFor(lines: number): number {
  let pages = 1;
  let onPage = Math.min(Math.max(lines, 1), ROWS_FIRST);
  let remaining = Math.max(lines, 1) - onPage;
  while (remaining > 0) {
    pages += 1;
    onPage = Math.min(remaining, ROWS_OTHER);
    remaining -= onPage;
  }
  const top = pages === 1 ? FIRST_TABLE_TOP : OTHER_TABLE_TOP;
  const end = top + ROW_HEIGHT + onPage * ROW_HEIGHT;
  return end + TOTALS_HEIGHT > TABLE_BOTTOM ? pages + 1 : pages;
}

/** The standard PDF fonts cover Latin-1; anything else is shown as `?` rather than garbage. */
function printable(text: string): string {
  return text.replace(/[^\x20-\x7e\u00a0-\u00ff]/g, '?');
}

export function renderStatementPdf(statement: Statement): PDFKit.PDFDocument {
  const { header } = statement;
  const zone = header.timeZone;
  const doc = new PDFDocument({
    size: 'A4',
    margins: { top: 30, bottom: 20, left: LEFT, right: LEFT },
    autoFirstPage: false,
    bufferPages: false,
    info: {
      Title: `Statement ${header.accountNumber} ${header.month}`,
      Author: BANK_NAME,
      Subject: 'Account statement',
    },
  });
  const totalPages = pageCountFor(header.lineCount);
  let page = 0;

  const text = (
    value: string,
    x: number,
    y: number,
    options: { width?: number; align?: 'left' | 'right' | 'center'; bold?: boolean; size?: number },
  ) => {
    doc.font(options.bold === true ? 'Helvetica-Bold' : 'Helvetica').fontSize(options.size ?? 8);
    doc.text(printable(value), x, y, {
      lineBreak: false,
      ...(options.width === undefined ? {} : { width: options.width }),
      align: options.align ?? 'left',
    });
  };

  /** Cuts a value to fit a column, so every line is one row high. */
  const fit = (value: string, width: number): string => {
    doc.font('Helvetica').fontSize(8);
    let cut = printable(value);
    if (doc.widthOfString(cut) <= width) return cut;
    while (cut.length > 0 && doc.widthOfString(`${cut}...`) > width) {
      cut = cut.slice(
        0,
        Math.max(
          0,
          Math.min(cut.length - 1, Math.floor((cut.length * width) / doc.widthOfString(cut))),
        ),
      );
    }
    return `${cut}...`;
  };

  const tableHeader = (y: number) => {
    let x = LEFT;
    for (const column of COLUMNS) {
      text(column.title, x, y, { width: column.width - 4, align: column.align, bold: true });
      x += column.width;
    }
    doc
      .moveTo(LEFT, y + ROW_HEIGHT - 3)
      .lineTo(PAGE.width - LEFT, y + ROW_HEIGHT - 3)
      .lineWidth(0.5)
      .stroke();
  };

  const newPage = (): number => {
    doc.addPage();
    page += 1;
    text(
      `${BANK_NAME} - statement of account ${header.accountNumber} for ${header.month} - page ${page} of ${totalPages}`,
      LEFT,
      FOOTER_Y,
      { width: PAGE.width - 2 * LEFT, align: 'center', size: 7 },
    );
    if (page === 1) {
      text(BANK_NAME, LEFT, 34, { bold: true, size: 18 });
      text('Account statement', LEFT, 58, { size: 12 });
      const facts: Array<[string, string]> = [
        ['Customer', statement.customerName],
        ['Account', `${header.accountNumber} (${header.currency})`],
        [
          'Period',
          `${localDate(header.period.from, zone)} to ${localDate(header.period.to, zone)}${header.monthToDate ? ' (month to date)' : ''}, ${zone}`,
        ],
        ['Opening balance', `${header.openingBalance} ${header.currency}`],
      ];
      facts.forEach(([label, value], i) => {
        text(label, LEFT, 84 + i * 14, { bold: true, size: 9 });
        text(value, LEFT + 90, 84 + i * 14, { size: 9 });
      });
      tableHeader(FIRST_TABLE_TOP);
      return FIRST_TABLE_TOP + ROW_HEIGHT;
    }
    text(`${BANK_NAME} - ${header.accountNumber} - ${header.month} (continued)`, LEFT, 36, {
      size: 9,
      bold: true,
    });
    tableHeader(OTHER_TABLE_TOP);
    return OTHER_TABLE_TOP + ROW_HEIGHT;
  };

  const row = (line: TransactionView, y: number) => {
    const details = [
      line.counterpartyAccount === null
        ? null
        : `${line.direction === 'debit' ? 'to' : 'from'} ${line.counterpartyAccount}`,
      line.description,
    ]
      .filter((part) => part !== null)
      .join(' - ');
    const cells = [
      localDateTime(line.createdAt, zone),
      line.type.replace('_', ' '),
      details,
      line.direction === 'debit' ? line.amount : '',
      line.direction === 'credit' ? line.amount : '',
      line.balanceAfter,
    ];
    let x = LEFT;
    COLUMNS.forEach((column, i) => {
      const value = cells[i] ?? '';
      text(column.align === 'left' ? fit(value, column.width - 6) : value, x, y, {
        width: column.width - 4,
        align: column.align,
      });
      x += column.width;
    });
  };

  const totals = (y: number) => {
    const entries: Array<[string, string]> = [
      ['Opening balance', header.openingBalance],
      ['Total credits', header.totalCredits],
      ['Total debits', header.totalDebits],
      ['Closing balance', header.closingBalance],
    ];
    const x = PAGE.width - LEFT - 230;
    doc
      .moveTo(x, y)
      .lineTo(PAGE.width - LEFT, y)
      .lineWidth(0.5)
      .stroke();
    entries.forEach(([label, value], i) => {
      const rowY = y + 6 + i * ROW_HEIGHT;
      const bold = i === entries.length - 1;
      text(label, x, rowY, { bold, size: 9 });
      text(`${value} ${header.currency}`, x + 100, rowY, {
        width: 130,
        align: 'right',
        bold,
        size: 9,
      });
    });
    text(`${header.lineCount} transactions`, LEFT, y + 6, { size: 8 });
  };

  /** Waits while the socket has not taken the bytes already written (back-pressure). */
  const drained = async () => {
    while (doc.readableLength > HIGH_WATER_BYTES && !doc.destroyed) await sleep(2);
  };

  const write = async () => {
    let y = newPage();
    let rowsOnPage = 0;
    let capacity = ROWS_FIRST;
    let lines = 0;
    for await (const line of statement.lines()) {
      if (doc.destroyed) return;
      if (rowsOnPage === capacity) {
        y = newPage();
        rowsOnPage = 0;
        capacity = ROWS_OTHER;
        await drained();
      }
      row(line, y);
      y += ROW_HEIGHT;
      rowsOnPage += 1;
      lines += 1;
    }
    if (lines === 0) {
      text('No transactions in this period.', LEFT, y, { size: 9 });
      y += ROW_HEIGHT;
    }
    if (y + TOTALS_HEIGHT > TABLE_BOTTOM) y = newPage();
    totals(y + 4);
    doc.end();
  };
  write().catch((error: unknown) =>
    doc.destroy(error instanceof Error ? error : new Error(String(error))),
  );
  return doc;
}
