package bench

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

var (
	colProduce = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	colConsume = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
	colNATS    = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
	colDisk    = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	colP50     = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	colP99     = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
	colP999    = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
)

// writeChart draws two panels: produce and consume throughput per cell
// beside NATS and the disk's fsync limit, and the latency percentiles per
// cell beside NATS's (log scale). The file name's extension (.png or
// .svg) picks the format.
func writeChart(rep *Report, path string) error {
	if len(rep.Strata) == 0 {
		return fmt.Errorf("no Strata figures to chart")
	}
	tp, err := throughputPlot(rep)
	if err != nil {
		return err
	}
	lp, err := latencyPlot(rep)
	if err != nil {
		return err
	}
	w := vg.Length(max(8, 0.55*float64(len(rep.Strata))+3)) * vg.Inch
	h := 9 * vg.Inch
	var c interface {
		vg.CanvasSizer
		io.WriterTo
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png":
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(110))}
	case ".svg":
		c = vgsvg.New(w, h)
	default:
		return fmt.Errorf("%s: want a .png or .svg file", path)
	}
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Points(6), PadBottom: vg.Points(6), PadY: vg.Points(12), PadLeft: vg.Points(6), PadRight: vg.Points(12)}
	plots := [][]*plot.Plot{{tp}, {lp}}
	canvases := plot.Align(plots, tiles, dc)
	tp.Draw(canvases[0][0])
	lp.Draw(canvases[1][0])
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func cellLabel(c Cell) string {
	return fmt.Sprintf("%s %dp acks=%s", size(c.RecordBytes), c.Partitions, c.Acks)
}

func labels(rep *Report) []string {
	out := make([]string, len(rep.Strata))
	for i, c := range rep.Strata {
		out[i] = cellLabel(c)
	}
	return out
}

func rotateX(p *plot.Plot) {
	p.X.Tick.Label.Rotation = math.Pi / 5
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
}

func throughputPlot(rep *Report) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Throughput, MB/s of record values (loopback TCP: %s MB/s)", num(rep.References.LoopbackTCP.MBps))
	p.Y.Label.Text = "MB/s"
	p.Y.Min = 0
	n := len(rep.Strata)
	prod, cons, nats := make(plotter.Values, n), make(plotter.Values, n), make(plotter.Values, n)
	for i, c := range rep.Strata {
		prod[i], cons[i] = c.Produce.MBps, c.Consume.MBps
		if r := natsFor(rep.References.NATS, c.RecordBytes, c.Acks); r != nil {
			nats[i] = r.Produce.MBps
		}
	}
	width := vg.Points(9)
	series := []struct {
		name string
		v    plotter.Values
		col  color.Color
	}{{"Strata produce", prod, colProduce}, {"Strata consume", cons, colConsume}}
	if len(rep.References.NATS) > 0 {
		series = append(series, struct {
			name string
			v    plotter.Values
			col  color.Color
		}{"NATS JetStream publish", nats, colNATS})
	}
	for i, s := range series {
		b, err := plotter.NewBarChart(s.v, width)
		if err != nil {
			return nil, err
		}
		b.Color, b.LineStyle.Width = s.col, 0
		b.Offset = vg.Length(float64(i)-float64(len(series)-1)/2) * width
		p.Add(b)
		p.Legend.Add(s.name, b)
	}
	if d := rep.References.Disk.FsyncMBps; d > 0 {
		line, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: d}, {X: float64(n) - 0.5, Y: d}})
		if err != nil {
			return nil, err
		}
		line.Color, line.Dashes = colDisk, []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(line)
		p.Legend.Add(fmt.Sprintf("disk: 1 MiB appends + fsync (%s MB/s)", num(d)), line)
	}
	top := rep.References.Disk.FsyncMBps
	for i := range prod {
		top = max(top, prod[i], cons[i], nats[i])
	}
	p.Y.Max = 1.4 * top // room for the legend
	p.Legend.Top = true
	p.NominalX(labels(rep)...)
	p.Y.Tick.Marker = plainTicks{}
	rotateX(p)
	p.Add(hGrid())
	return p, nil
}

// plainTicks are gonum's default ticks labelled without trailing zeros.
type plainTicks struct{}

func (plainTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', -1, 64)
		}
	}
	return ts
}

// hGrid is a grid of horizontal lines only.
func hGrid() *plotter.Grid {
	g := plotter.NewGrid()
	g.Vertical.Color = nil
	return g
}

func latencyPlot(rep *Report) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("End-to-end latency at %.0f%% of the maximum rate, ms (log scale; hollow: NATS JetStream; x: the rate saturated this machine)", rep.Settings.LatencyRateOfMaxPct)
	p.Y.Label.Text = "ms"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	pick := []struct {
		name string
		col  color.Color
		get  func(Latency) float64
		dx   float64
	}{
		{"p50", colP50, func(l Latency) float64 { return l.P50 }, -0.2},
		{"p99", colP99, func(l Latency) float64 { return l.P99 }, 0},
		{"p99.9", colP999, func(l Latency) float64 { return l.P999 }, 0.2},
	}
	for _, pk := range pick {
		var strata, saturated, nats plotter.XYs
		for i, c := range rep.Strata {
			if v := pk.get(c.Latency); v > 0 {
				strata = append(strata, plotter.XY{X: float64(i) + pk.dx, Y: v})
				if c.Latency.Saturated {
					saturated = append(saturated, plotter.XY{X: float64(i) + pk.dx, Y: v})
				}
			}
			if r := natsFor(rep.References.NATS, c.RecordBytes, c.Acks); r != nil {
				if v := pk.get(r.Latency); v > 0 {
					nats = append(nats, plotter.XY{X: float64(i) + pk.dx, Y: v})
				}
			}
		}
		if len(strata) > 0 {
			s, err := plotter.NewScatter(strata)
			if err != nil {
				return nil, err
			}
			s.GlyphStyle = draw.GlyphStyle{Color: pk.col, Radius: vg.Points(4), Shape: draw.CircleGlyph{}}
			p.Add(s)
			p.Legend.Add("Strata "+pk.name, s)
		}
		if len(saturated) > 0 {
			s, err := plotter.NewScatter(saturated)
			if err != nil {
				return nil, err
			}
			s.GlyphStyle = draw.GlyphStyle{Color: color.White, Radius: vg.Points(2.5), Shape: draw.CrossGlyph{}}
			p.Add(s)
		}
		if len(nats) > 0 {
			s, err := plotter.NewScatter(nats)
			if err != nil {
				return nil, err
			}
			s.GlyphStyle = draw.GlyphStyle{Color: pk.col, Radius: vg.Points(4), Shape: draw.RingGlyph{}}
			p.Add(s)
			p.Legend.Add("NATS "+pk.name, s)
		}
	}
	p.Legend.Top = true
	p.Legend.Left = true
	p.NominalX(labels(rep)...)
	p.X.Min, p.X.Max = -0.5, float64(len(rep.Strata))-0.5
	p.Y.Max *= 30 // room for the legend, a decade and a half on the log scale
	rotateX(p)
	p.Add(hGrid())
	return p, nil
}
